# Movie service of the seed's FastAPI system, RECONSTRUCTED for Marquee's benchmark from the
# seed's README only (its code is not available): FastAPI + SQLAlchemy (psycopg2) + redis-py,
# cache-aside on `movie:{id}` with a TTL of 3600 s and the batch endpoint, written the way such
# a service usually is. Not the original code. See loadtest/peer/README.md.
import json
import os
from datetime import datetime
from typing import List, Optional

import redis
from fastapi import Depends, FastAPI, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, DateTime, Float, Integer, String, create_engine, func
from sqlalchemy.orm import Session, declarative_base, sessionmaker

DATABASE_URL = os.getenv("DATABASE_URL", "postgresql://movie:password@movie-db:5432/moviedb")
REDIS_HOST = os.getenv("REDIS_HOST", "redis")
REDIS_PORT = int(os.getenv("REDIS_PORT", "6379"))
CACHE_TTL = 3600  # 1 hour

engine = create_engine(DATABASE_URL)
SessionLocal = sessionmaker(autocommit=False, autoflush=False, bind=engine)
Base = declarative_base()

redis_client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, decode_responses=True)


class Movie(Base):
    __tablename__ = "movies"

    id = Column(Integer, primary_key=True, index=True)
    title = Column(String, nullable=False, index=True)
    director = Column(String)
    year = Column(Integer)
    genre = Column(String, index=True)
    rating = Column(Float)
    created_at = Column(DateTime(timezone=True), server_default=func.now())
    updated_at = Column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now())


Base.metadata.create_all(bind=engine)


class MovieCreate(BaseModel):
    title: str
    director: Optional[str] = None
    year: int
    genre: str
    rating: Optional[float] = None


class MovieUpdate(BaseModel):
    title: Optional[str] = None
    director: Optional[str] = None
    year: Optional[int] = None
    genre: Optional[str] = None
    rating: Optional[float] = None


class MovieResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    director: Optional[str] = None
    year: int
    genre: str
    rating: Optional[float] = None
    created_at: datetime
    updated_at: Optional[datetime] = None


class BatchRequest(BaseModel):
    movie_ids: List[int]


app = FastAPI(title="Movie Service")


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


def cache_key(movie_id: int) -> str:
    return f"movie:{movie_id}"


def movie_to_dict(movie: Movie) -> dict:
    return MovieResponse.model_validate(movie).model_dump(mode="json")


def cache_movie(movie: Movie) -> dict:
    data = movie_to_dict(movie)
    redis_client.setex(cache_key(movie.id), CACHE_TTL, json.dumps(data))
    return data


@app.get("/health")
def health():
    return {"status": "healthy", "service": "movie-service"}


@app.post("/api/movies", response_model=MovieResponse, status_code=201)
def create_movie(movie: MovieCreate, db: Session = Depends(get_db)):
    db_movie = Movie(**movie.model_dump())
    db.add(db_movie)
    db.commit()
    db.refresh(db_movie)
    return cache_movie(db_movie)


@app.get("/api/movies", response_model=List[MovieResponse])
def list_movies(
    genre: Optional[str] = None,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    db: Session = Depends(get_db),
):
    query = db.query(Movie)
    if genre:
        query = query.filter(Movie.genre == genre)
    return query.order_by(Movie.id).offset(offset).limit(limit).all()


@app.post("/api/movies/batch", response_model=List[MovieResponse])
def get_movies_batch(request: BatchRequest, db: Session = Depends(get_db)):
    """Many movies in one call (the watchlist service's N+1 fix): cache first, then the database."""
    if not request.movie_ids:
        return []
    ids = list(dict.fromkeys(request.movie_ids))
    found = {}
    cached = redis_client.mget([cache_key(movie_id) for movie_id in ids])
    for movie_id, value in zip(ids, cached):
        if value is not None:
            found[movie_id] = json.loads(value)
    missing = [movie_id for movie_id in ids if movie_id not in found]
    if missing:
        for movie in db.query(Movie).filter(Movie.id.in_(missing)).all():
            found[movie.id] = cache_movie(movie)
    return [found[movie_id] for movie_id in ids if movie_id in found]


@app.get("/api/movies/{movie_id}", response_model=MovieResponse)
def get_movie(movie_id: int, db: Session = Depends(get_db)):
    cached = redis_client.get(cache_key(movie_id))
    if cached:
        return json.loads(cached)
    movie = db.query(Movie).filter(Movie.id == movie_id).first()
    if movie is None:
        raise HTTPException(status_code=404, detail="Movie not found")
    return cache_movie(movie)


@app.put("/api/movies/{movie_id}", response_model=MovieResponse)
def update_movie(movie_id: int, movie: MovieUpdate, db: Session = Depends(get_db)):
    db_movie = db.query(Movie).filter(Movie.id == movie_id).first()
    if db_movie is None:
        raise HTTPException(status_code=404, detail="Movie not found")
    for field, value in movie.model_dump(exclude_unset=True).items():
        setattr(db_movie, field, value)
    db.commit()
    db.refresh(db_movie)
    return cache_movie(db_movie)


@app.delete("/api/movies/{movie_id}", status_code=204)
def delete_movie(movie_id: int, db: Session = Depends(get_db)):
    db_movie = db.query(Movie).filter(Movie.id == movie_id).first()
    if db_movie is None:
        raise HTTPException(status_code=404, detail="Movie not found")
    db.delete(db_movie)
    db.commit()
    redis_client.delete(cache_key(movie_id))
    return Response(status_code=204)
