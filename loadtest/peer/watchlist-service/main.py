# Watchlist service of the seed's FastAPI system, RECONSTRUCTED for Marquee's benchmark from the
# seed's README only (its code is not available): FastAPI + SQLAlchemy, users and movies validated
# through the other services with httpx, movie details through the movie service's batch
# endpoint, written the way such a service usually is. Not the original code.
# Async all the way here (SQLAlchemy's asyncio extension on asyncpg, one shared httpx client):
# why, and what the other choices did under the benchmark, is in loadtest/peer/README.md.
import os
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import List

import httpx
from fastapi import Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, DateTime, Integer, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import declarative_base

DATABASE_URL = os.getenv("DATABASE_URL", "postgresql+asyncpg://watchlist:password@watchlist-db:5432/watchlistdb")
USER_SERVICE_URL = os.getenv("USER_SERVICE_URL", "http://user-service:8000")
MOVIE_SERVICE_URL = os.getenv("MOVIE_SERVICE_URL", "http://movie-service:8000")

engine = create_async_engine(DATABASE_URL)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
Base = declarative_base()
http_client: httpx.AsyncClient


class Watchlist(Base):
    __tablename__ = "watchlist"

    id = Column(Integer, primary_key=True, index=True)
    user_id = Column(Integer, nullable=False, index=True)
    movie_id = Column(Integer, nullable=False, index=True)
    added_at = Column(DateTime(timezone=True), server_default=func.now())


class WatchlistCreate(BaseModel):
    user_id: int
    movie_id: int


class WatchlistResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    movie_id: int
    added_at: datetime


@asynccontextmanager
async def lifespan(app: FastAPI):
    global http_client
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    http_client = httpx.AsyncClient(timeout=10.0)
    yield
    await http_client.aclose()
    await engine.dispose()


app = FastAPI(title="Watchlist Service", lifespan=lifespan)


async def get_db():
    async with SessionLocal() as session:
        yield session


async def verify_user_exists(user_id: int) -> bool:
    try:
        response = await http_client.get(f"{USER_SERVICE_URL}/api/users/{user_id}")
        return response.status_code == 200
    except httpx.RequestError:
        raise HTTPException(status_code=503, detail="User service unavailable")


async def verify_movie_exists(movie_id: int) -> bool:
    try:
        response = await http_client.get(f"{MOVIE_SERVICE_URL}/api/movies/{movie_id}")
        return response.status_code == 200
    except httpx.RequestError:
        raise HTTPException(status_code=503, detail="Movie service unavailable")


async def get_movies_batch(movie_ids: List[int]) -> dict:
    """Movie details for many ids in one call to the movie service (no N+1)."""
    if not movie_ids:
        return {}
    try:
        response = await http_client.post(f"{MOVIE_SERVICE_URL}/api/movies/batch", json={"movie_ids": movie_ids})
    except httpx.RequestError:
        raise HTTPException(status_code=503, detail="Movie service unavailable")
    if response.status_code != 200:
        raise HTTPException(status_code=502, detail="Movie service error")
    return {movie["id"]: movie for movie in response.json()}


async def find_entry(db: AsyncSession, user_id: int, movie_id: int):
    result = await db.execute(
        select(Watchlist).where(Watchlist.user_id == user_id, Watchlist.movie_id == movie_id)
    )
    return result.scalars().first()


async def user_entries(db: AsyncSession, user_id: int):
    result = await db.execute(
        select(Watchlist)
        .where(Watchlist.user_id == user_id)
        .order_by(Watchlist.added_at.desc(), Watchlist.id.desc())
    )
    return result.scalars().all()


@app.get("/health")
async def health():
    return {"status": "healthy", "service": "watchlist-service"}


@app.post("/api/watchlist", response_model=WatchlistResponse, status_code=201)
async def add_to_watchlist(item: WatchlistCreate, db: AsyncSession = Depends(get_db)):
    if not await verify_user_exists(item.user_id):
        raise HTTPException(status_code=404, detail="User not found")
    if not await verify_movie_exists(item.movie_id):
        raise HTTPException(status_code=404, detail="Movie not found")
    if await find_entry(db, item.user_id, item.movie_id):
        # The seed's status for this is unknown; 409 is Marquee's contract (the benchmark
        # counts it as non-2xx in S4 and the seeding as "exists already").
        raise HTTPException(status_code=409, detail="Movie already in watchlist")
    entry = Watchlist(user_id=item.user_id, movie_id=item.movie_id)
    db.add(entry)
    await db.commit()
    await db.refresh(entry)
    return entry


@app.get("/api/watchlist/user/{user_id}")
async def get_user_watchlist(user_id: int, db: AsyncSession = Depends(get_db)):
    entries = await user_entries(db, user_id)
    movies = await get_movies_batch([entry.movie_id for entry in entries])
    return [
        {
            "id": entry.id,
            "user_id": entry.user_id,
            "movie_id": entry.movie_id,
            "added_at": entry.added_at,
            "movie": movies.get(entry.movie_id),
        }
        for entry in entries
    ]


@app.get("/api/watchlist/user/{user_id}/export")
async def export_user_watchlist(user_id: int, db: AsyncSession = Depends(get_db)):
    entries = await user_entries(db, user_id)
    movies = await get_movies_batch([entry.movie_id for entry in entries])
    exported = []
    missing = []
    for entry in entries:
        movie = movies.get(entry.movie_id)
        if movie is None:
            missing.append(entry.movie_id)
        else:
            exported.append({**movie, "added_at": entry.added_at})
    return {
        "user_id": user_id,
        "exported_at": datetime.now(timezone.utc),
        "count": len(exported),
        "movies": exported,
        "missing_movie_ids": missing,
    }


@app.get("/api/watchlist/movie/{movie_id}", response_model=List[WatchlistResponse])
async def get_movie_watchers(movie_id: int, db: AsyncSession = Depends(get_db)):
    result = await db.execute(select(Watchlist).where(Watchlist.movie_id == movie_id).order_by(Watchlist.id))
    return result.scalars().all()


@app.get("/api/watchlist/user/{user_id}/movie/{movie_id}")
async def check_in_watchlist(user_id: int, movie_id: int, db: AsyncSession = Depends(get_db)):
    entry = await find_entry(db, user_id, movie_id)
    return {
        "user_id": user_id,
        "movie_id": movie_id,
        "in_watchlist": entry is not None,
        "entry_id": entry.id if entry else None,
        "added_at": entry.added_at if entry else None,
    }


@app.delete("/api/watchlist/user/{user_id}/movie/{movie_id}", status_code=204)
async def remove_movie_from_user(user_id: int, movie_id: int, db: AsyncSession = Depends(get_db)):
    entry = await find_entry(db, user_id, movie_id)
    if entry is None:
        raise HTTPException(status_code=404, detail="Watchlist entry not found")
    await db.delete(entry)
    await db.commit()
    return Response(status_code=204)


@app.delete("/api/watchlist/{entry_id}", status_code=204)
async def remove_entry(entry_id: int, db: AsyncSession = Depends(get_db)):
    entry = await db.get(Watchlist, entry_id)
    if entry is None:
        raise HTTPException(status_code=404, detail="Watchlist entry not found")
    await db.delete(entry)
    await db.commit()
    return Response(status_code=204)
